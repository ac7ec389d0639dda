export * from "./compare";
export * from "./sqlite";
export * from "./statement";
export * from "./verifier";
