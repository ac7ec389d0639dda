export * from "./auth";
export * from "./datasets";
export * from "./feedback";
export * from "./ledger";
export * from "./scoring";
export * from "./training";
export * from "./retraining";
