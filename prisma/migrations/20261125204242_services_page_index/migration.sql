-- CreateIndex
CREATE INDEX "services_company_id_name_id_idx" ON "services"("company_id", "name", "id");
