export * from "./auth";
export * from "./datasets";
export * from "./ledger";
export * from "./scoring";
export * from "./training";
