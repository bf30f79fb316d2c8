package web

// PasswordEncryption is what the login form needs to encrypt the
// password in the browser (policy methods.password_encryption): the
// one-time challenge, posted back, and the gateway's public key
// (SubjectPublicKeyInfo DER, standard base64). A page rendered with it
// loads pwcrypt.js and allows that script in its CSP (see Script).
type PasswordEncryption struct {
	Challenge string
	PublicKey string
}

// ScriptSrc is pwcrypt.js's URL (see Script.Src).
func (PasswordEncryption) ScriptSrc() string { return pwcryptScript.Src() }

// Integrity is the script tag's integrity attribute.
func (PasswordEncryption) Integrity() string { return ScriptHash() }

// ScriptHash is pwcrypt.js's hash as CSP and SRI write it: sha256-<base64>.
func ScriptHash() string { return pwcryptScript.Integrity() }
