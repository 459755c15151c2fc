// Package web holds what tocsin serves to browsers: the JavaScript client
// (/client.js). It is embedded in the binary.
package web

import _ "embed"

// ClientJS is the JavaScript client, an ES module (client.js in this directory).
//
//go:embed client.js
var ClientJS []byte

// IndexHTML and AppJS are the dashboard (index.html and app.js here).
//
//go:embed index.html
var IndexHTML []byte

//go:embed app.js
var AppJS []byte

// ServiceWorkerJS is the Web Push service worker (sw.js here), served at /sw.js.
//
//go:embed sw.js
var ServiceWorkerJS []byte
