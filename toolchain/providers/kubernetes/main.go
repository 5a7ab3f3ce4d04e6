// The pulumi-kubernetes provider plugin (pulumi-resource-kubernetes), built from the provider module
// at the commit go.mod pins. Upstream's main package embeds schema-embed.json and
// terraform-mapping-embed.json, which its build generates and the module does not carry; this one
// embeds the schema.json and terraform-mapping.json the module does carry, copied next to this file
// by ./prepare in the bootstrap's build copy (they are downloaded, never committed).
package main

import (
	"bytes"
	_ "embed"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

// Version is the plugin's version, set by the build (-X main.Version=...): the pinned
// pulumi_kubernetes SDK's pulumi-plugin.json version.
var Version = "dev"

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

// withVersion returns the schema with a top-level "version", as upstream's generate step writes it:
// the module's schema.json has none.
func withVersion(schema []byte, v string) []byte {
	body := bytes.TrimLeft(schema, " \t\r\n")
	if len(body) == 0 || body[0] != '{' {
		return schema
	}
	out := make([]byte, 0, len(body)+len(v)+16)
	out = append(out, `{"version":`...)
	out = strconv.AppendQuote(out, v)
	out = append(out, ',')
	return append(out, body[1:]...)
}

func main() {
	// The version package computed its user agent ("pulumi-kubernetes/dev ...") before main ran.
	version.Version = Version
	version.UserAgent = strings.Replace(version.UserAgent, "pulumi-kubernetes/dev ", "pulumi-kubernetes/"+Version+" ", 1)
	provider.Serve("kubernetes", Version, withVersion(schema, Version), terraformMapping)
}
