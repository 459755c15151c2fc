package web

import _ "embed"

// AdminHTML and AdminJS are the admin console at /admin (admin.html and admin.js
// here): plain HTML and an ES module, no framework, no request outside the server.
//
//go:embed admin.html
var AdminHTML []byte

//go:embed admin.js
var AdminJS []byte
