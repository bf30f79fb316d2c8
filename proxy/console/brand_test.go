package console

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/proxy/brand"
)

// TestConsoleShowsBrand: the console's title and bar carry the product
// name and logo, and its pages load the brand's stylesheet (the colour).
func TestConsoleShowsBrand(t *testing.T) {
	c := brand.Config{ProductName: "Acme CRM"}
	c.SetDefaults()
	if err := c.Validate("branding"); err != nil {
		t.Fatal(err)
	}
	b := c.Brand()
	d := &pageData{Title: "Users", Section: "users", Admin: "root", Message: "m", Brand: b}
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, "message.html", d); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"<title>Users · Acme CRM admin</title>", `<link rel="stylesheet" href="` + b.StyleURL + `">`,
		`<span class="product" id="product-name"><img class="logo" src="` + b.LogoURL + `" alt="" height="28"> Acme CRM admin</span>`} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, "Gatehouse") {
		t.Errorf("still says Gatehouse:\n%s", out)
	}
}
