// Team discovery: a hackathon's teams (by status) joined with their environment values, read
// under the key names the live Hub uses (configurable). A missing, empty or secure (masked)
// value is "no input", which the team round reports as NO_DATA.
import type { HubClient } from "./hub-client.js";

/** The environment keys holding each team's inputs. */
export interface TeamEnvKeys {
  repo: string;
  endpoint: string;
  money: string;
  judge: string;
}

export const DEFAULT_ENV_KEYS: TeamEnvKeys = { repo: "Repo", endpoint: "ENDPOINT_URL", money: "MONEY_SPEND", judge: "JUDJE_SCORE" };

export interface TeamInputs {
  /** The team's nickname on the Hub (its slug). */
  slug: string;
  hackathonId: string;
  name: string;
  repoUrl: string | null;
  endpointUrl: string | null;
  moneySpend: string | null;
  judgeScore: string | null;
}

/** Lists the teams and reads their inputs; Hub errors propagate (the fire fails and is retried by its schedule). */
export async function discoverTeams(client: HubClient, hackathonId: string, status: string, keys: TeamEnvKeys): Promise<TeamInputs[]> {
  const [teams, environments] = await Promise.all([client.listTeams(hackathonId, status), client.environments()]);
  return teams
    .filter((team) => team.hackathonId === hackathonId)
    .map((team) => {
      const env = environments.get(team.nickname) ?? new Map<string, string>();
      return {
        slug: team.nickname,
        hackathonId: team.hackathonId,
        name: team.name ?? team.nickname,
        repoUrl: env.get(keys.repo) ?? null,
        endpointUrl: env.get(keys.endpoint) ?? null,
        moneySpend: env.get(keys.money) ?? null,
        judgeScore: env.get(keys.judge) ?? null,
      };
    });
}
