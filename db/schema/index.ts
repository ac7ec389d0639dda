export * from "./auth";
export * from "./datasets";
export * from "./feedback";
export * from "./ledger";
export * from "./monitoring";
export * from "./scoring";
export * from "./training";
