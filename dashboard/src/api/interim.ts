// INTERIM: shapes of routes being added on other branches; replaced by generated aliases in types.ts at merge.
import type { ModelRef, WireApi } from './types';

export interface ProviderBody {
  name: string;
  base_url: string;
  api?: WireApi;
  api_key?: string;
  models?: { name: string }[];
}
export interface ProviderTest {
  ok: boolean;
  models: string[];
  message: string;
  http_status?: number | null;
  duration_ms: number;
}
export type DefaultModel = ModelRef;
export interface DemoStarted {
  agent_id: string;
  workspace_id?: string;
}
