// Starts Swagger UI on /docs from the copy served with the Worker (no CDN), reading /openapi.json.
declare const SwaggerUIBundle: (opts: Record<string, unknown>) => unknown;

SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
