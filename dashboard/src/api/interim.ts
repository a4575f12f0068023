// INTERIM: the demo route's shape, being added on another branch; replaced by a generated alias at merge.
export interface DemoStarted {
  agent_id: string;
  workspace_id?: string;
}
