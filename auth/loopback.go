package auth

import "net"

// LoopbackHost reports whether host (a URL's hostname, no port) names
// this machine's loopback: "localhost" or a loopback address. Plain http,
// an unverified relay or a development-only sender is allowed only there,
// where nothing crosses a network.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
