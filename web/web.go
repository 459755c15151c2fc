// Package web holds what tocsin serves to browsers: the JavaScript client
// (/client.js). It is embedded in the binary.
package web

import _ "embed"

// ClientJS is the JavaScript client, an ES module (client.js in this directory).
//
//go:embed client.js
var ClientJS []byte

// ClientModule returns the module client.js imports under name (relatively, so it is
// served next to it, at /<name>): the inbox store's rules, the REST calls, Web Push.
func ClientModule(name string) ([]byte, bool) {
	switch name {
	case "client-inbox.js":
		return clientInboxJS, true
	case "client-rest.js":
		return clientRestJS, true
	case "client-push.js":
		return clientPushJS, true
	}
	return nil, false
}

//go:embed client-inbox.js
var clientInboxJS []byte

//go:embed client-rest.js
var clientRestJS []byte

//go:embed client-push.js
var clientPushJS []byte

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
