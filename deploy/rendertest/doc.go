// Package rendertest proves that the shipped deployments would start. Its
// tests render the Helm chart (deploy/helm/gatehouse) with the Helm SDK and
// load deploy/docker-compose.yml with compose-go, lay out in a temporary
// directory what the gateway's container would see (its configuration,
// its secrets as files with the owners and modes Kubernetes and Docker
// give them, its environment, its user), and run `gatehouse check-config`
// on that view as the container's user.
//
// It is a module of its own so that Helm, the Kubernetes API types and
// compose-go stay out of the gateway's go.mod, its builds and its
// govulncheck: this is test tooling, nothing here is shipped. Run it with
// `make deploytest` (part of `make test`).
package rendertest
