// Package rest serves Kafka Connect's REST API over a runtime.Herder, with
// Kafka Connect's endpoints, JSON shapes and error format
// ({"error_code": 404, "message": "Connector x not found"}).
//
//	srv := rest.New(herder, logger)
//	if err := srv.Listen("http://127.0.0.1:8083"); err != nil { ... }
//	defer srv.Close()
//
// Endpoints: GET / ; GET/POST /connectors (?expand=status&expand=info);
// GET/DELETE /connectors/{name}; GET/PUT/PATCH /connectors/{name}/config;
// GET /connectors/{name}/status; POST /connectors/{name}/restart
// (?includeTasks=&onlyFailed=); PUT /connectors/{name}/pause, /resume,
// /stop; GET /connectors/{name}/tasks; GET
// /connectors/{name}/tasks/{id}/status; POST
// /connectors/{name}/tasks/{id}/restart; GET /connectors/{name}/topics; PUT
// /connectors/{name}/topics/reset; GET /connector-plugins
// (?connectorsOnly=false); GET /connector-plugins/{plugin}/config; PUT
// /connector-plugins/{plugin}/config/validate; GET/PATCH/DELETE
// /connectors/{name}/offsets (KIP-875; changes need a STOPPED connector);
// GET /admin/loggers and GET/PUT /admin/loggers/{logger} (levels change
// at runtime once SetLoggers hands the server the worker's
// runtime.Loggers).
package rest
