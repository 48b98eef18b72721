// The GraphQL documents the dashboard sends. Kept in their own module so the test suite can
// validate every one of them against the schema (test/dashboard.test.ts): a renamed field fails
// a test, not an operator's page.

const COVERAGE = `totalServices activeServices syncedServices pendingServices erroredServices
  neverSyncedServices legacyServices remoteDeletedServices coveragePercent lastSyncedAt`;

const RUN = `id status trigger progress queuedAt startedAt finishedAt durationMs fetched created updated
  unchanged remoteDeleted heldForLinking error errorClass traceId correlationId`;

export const OVERVIEW = `query Overview {
  coverageReport {
    totalCompanies companiesUsingCalcom
    totals { ${COVERAGE} }
    companies {
      coverage { ${COVERAGE} }
      company {
        id name slug calcomConnected
        lastSyncRun { id status finishedAt queuedAt error }
        failedWebhooks: webhookEvents(first: 0, status: FAILED) { totalCount }
        missedWebhooksRecovered
      }
    }
  }
}`;

export const COMPANY = `query Company($id: ID!) {
  company(id: $id) {
    id name slug calcomConnected createdAt
    coverage { ${COVERAGE} }
    lastSyncRun { ${RUN} }
    failedWebhooks: webhookEvents(first: 0, status: FAILED) { totalCount }
    missedWebhooksRecovered
    lastReconcileRun { id status queuedAt finishedAt recovered error traceId }
  }
}`;

export const SERVICES = `query Services($id: ID!, $first: Int!, $after: String, $filter: ServiceFilter) {
  company(id: $id) {
    id
    services(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id name slug durationMinutes priceMinor currency isActive calcomEventTypeId syncStatus lastCalcomSync syncError } }
    }
  }
}`;

export const SYNC_RUNS = `query SyncRuns($id: ID!) {
  company(id: $id) { id syncRuns(first: 25) { totalCount edges { node { ${RUN} } } } }
}`;

export const WEBHOOK_EVENTS = `query WebhookEvents($id: ID!, $status: WebhookEventStatus, $first: Int!, $after: String) {
  company(id: $id) {
    id
    webhookEvents(first: $first, after: $after, status: $status) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id triggerEvent source status receivedAt processedAt attempts lastError duplicateCount traceId correlationId } }
    }
  }
}`;

export const WEBHOOK_PAYLOAD = `query WebhookPayload($id: ID!) { webhookEvent(id: $id) { id payload } }`;

export const AUDIT = `query Audit($id: ID!) {
  company(id: $id) { id auditEvents(first: 50) { totalCount edges { node { id actor action details correlationId createdAt } } } }
}`;

export const SYNC_COMPANY = `mutation SyncNow($id: ID!) { syncCompany(companyId: $id) { ${RUN} } }`;

export const SYNC_PROGRESS = `subscription Progress($id: ID!) { syncRunProgress(id: $id) { ${RUN} } }`;

export const RETRY_WEBHOOK = `mutation Retry($id: ID!) { retryWebhookEvent(id: $id) { id status attempts lastError } }`;

// The orphan workflow (CONTRACT.md section 8).
const SERVICE_BRIEF = `id name slug durationMinutes syncStatus calcomEventTypeId isActive`;

export const ORPHANS = `query Orphans($id: ID!) {
  company(id: $id) {
    id calcomConnected
    coverage { ${COVERAGE} }
    orphans: services(first: 100, filter: { syncStatus: [NEVER_SYNCED], isActive: true }) {
      totalCount edges { node { ${SERVICE_BRIEF} } }
    }
    legacy: services(first: 100, filter: { syncStatus: [LEGACY] }) {
      totalCount edges { node { ${SERVICE_BRIEF} } }
    }
  }
}`;

// Apart from ORPHANS: suggestions read Cal.com, which may be down while the catalogue is not.
export const SUGGESTIONS = `query Suggestions($id: ID!) {
  company(id: $id) { id linkSuggestions { calcomEventTypeId title slug lengthInMinutes score rank ambiguous service { id } } }
}`;

export const LINK_SERVICE = `mutation Link($serviceId: ID!, $eventTypeId: Int!) {
  linkService(serviceId: $serviceId, calcomEventTypeId: $eventTypeId) { ${SERVICE_BRIEF} }
}`;

export const UNLINK_SERVICE = `mutation Unlink($serviceId: ID!) { unlinkService(serviceId: $serviceId) { ${SERVICE_BRIEF} } }`;

export const EXPORT_SERVICE = `mutation Export($serviceId: ID!) { exportServiceToCalcom(serviceId: $serviceId) { ${SERVICE_BRIEF} } }`;

export const ACCEPT_SUGGESTIONS = `mutation Accept($id: ID!, $minScore: Float!, $dryRun: Boolean!) {
  acceptLinkSuggestions(companyId: $id, minScore: $minScore, dryRun: $dryRun) {
    calcomEventTypeId title score service { id name }
  }
}`;

export const MARK_LEGACY = `mutation Legacy($id: ID!, $dryRun: Boolean!) {
  markOrphanedServicesLegacy(companyId: $id, dryRun: $dryRun) { dryRun count services { id name } }
}`;

export const REACTIVATE_SERVICE = `mutation Reactivate($serviceId: ID!) { reactivateService(serviceId: $serviceId) { ${SERVICE_BRIEF} } }`;
