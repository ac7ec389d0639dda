// Types for scripts/build-rewards.mjs, so tests can call its API.
export declare const ROOT: string;
export declare const GEN_PATH: string;
export declare class RewardBuildError extends Error {}
export interface BuiltModule {
  file: string;
  version: string;
  names: string[];
  externals: { pkg: string; version: string }[];
}
export declare function listModules(root?: string): string[];
export declare function packageName(specifier: string): string;
export declare function bundleModule(
  root: string,
  file: string,
): Promise<{ file: string; code: string; externals: { pkg: string; version: string }[]; version: string }>;
export declare function renderRegistry(modules: { file: string; version: string }[]): string;
export declare function buildRewards(opts?: {
  root?: string;
  write?: boolean;
}): Promise<{ text: string; modules: BuiltModule[]; changed: boolean }>;
