package console

import _ "embed"

// OpenAPI is the admin API's OpenAPI 3.1 description, served at
// /.gatehouse/api/v1/openapi.json; a test checks it against the routes
// and the answers they give.
//
//go:embed openapi.json
var OpenAPI []byte
