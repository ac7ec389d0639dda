export * from "./auth";
export * from "./datasets";
export * from "./feedback";
export * from "./ledger";
export * from "./projects";
export * from "./retraining";
export * from "./scoring";
export * from "./training";
