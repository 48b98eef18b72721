import { Prisma } from "../generated/prisma/client.ts";
import { db } from "../db/client.ts";
import { newApiToken } from "../secrets.ts";
import { ConflictError, NotFoundError, UserInputError } from "./errors.ts";
import { audit } from "./audit.ts";

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export interface CreateCompanyInput {
  name: string;
  slug: string;
}

export async function createCompany(input: CreateCompanyInput, actor: string) {
  const name = input.name.trim();
  if (!name || name.length > 200) throw new UserInputError("name must be 1 to 200 characters.", "name");
  if (!SLUG.test(input.slug)) {
    throw new UserInputError("slug must be 1 to 64 lowercase letters, digits or dashes, not starting or ending with a dash.", "slug");
  }
  try {
    return await db().$transaction(async (tx) => {
      const company = await tx.company.create({ data: { name, slug: input.slug } });
      await audit(company.id, actor, "company.created", { slug: company.slug }, tx);
      return company;
    });
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      throw new ConflictError(`A company with slug "${input.slug}" already exists.`);
    }
    throw err;
  }
}

/** Creates a company token; the plaintext is returned once and never stored. */
export async function createApiToken(companyId: string, actor: string) {
  const company = await db().company.findUnique({ where: { id: companyId }, select: { id: true } });
  if (!company) throw new NotFoundError("Company");
  const { token, hash, prefix } = newApiToken();
  const row = await db().$transaction(async (tx) => {
    const created = await tx.apiToken.create({ data: { companyId, tokenHash: hash, prefix } });
    await audit(companyId, actor, "api_token.created", { tokenId: created.id, prefix }, tx);
    return created;
  });
  return { token, tokenRecord: row };
}
