/**
 * Pool size of every server under test and of the floors (calsync's default). A module of its own
 * so the floor processes import it without loading calsync's configuration, Prisma and logger
 * (which would make the floor's own RSS, the memory section's yardstick, about 50 MB larger).
 */
export const POOL_SIZE = 20;
