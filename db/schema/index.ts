export * from "./auth";
export * from "./datasets";
export * from "./feedback";
export * from "./ledger";
export * from "./retraining";
export * from "./scoring";
export * from "./training";
