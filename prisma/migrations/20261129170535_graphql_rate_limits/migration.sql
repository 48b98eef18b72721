-- CreateTable
CREATE TABLE "graphql_rate_limits" (
    "key" VARCHAR(255) NOT NULL,
    "hits" BIGINT[],
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "graphql_rate_limits_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "graphql_rate_limits_expires_at_idx" ON "graphql_rate_limits"("expires_at");
