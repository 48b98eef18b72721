-- AlterTable
ALTER TABLE "services" ADD COLUMN     "export_slug" TEXT,
ADD COLUMN     "export_started_at" TIMESTAMPTZ(3),
ADD COLUMN     "external_id" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "services_company_id_external_id_key" ON "services"("company_id", "external_id");
