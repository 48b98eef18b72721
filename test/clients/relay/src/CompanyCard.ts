// A frontend component's data needs, as Relay writes them: relay-compiler turns this into
// artifacts (test/clients/relay/__generated__, not committed) and a refetch query on node(id:).
import { graphql } from "relay-runtime";

export const CompanyCardFragment = graphql`
  fragment CompanyCard_company on Company @refetchable(queryName: "CompanyCardRefetchQuery") {
    name
    slug
    createdAt
    calcomConnected
    coverage {
      activeServices
      coveragePercent
      lastSyncedAt
    }
  }
`;
