package email

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/tocsin/tocsin"
)

//go:embed templates/*.html templates/*.txt
var embedded embed.FS

// Names of the templates that are not a notification type's. A notification of
// type "default" or "digest" therefore always gets the default template.
const (
	defaultName = "default"
	digestName  = "digest"
)

// Limits of templates and of what they render.
const (
	maxTemplateFile = 1 << 20 // one file of --templates
	maxTemplates    = 1000    // files of --templates
	// MaxDigestItems is how many notifications a digest lists; the rest are counted
	// in Data.More (the subject still counts them all).
	MaxDigestItems = 50
	excerptRunes   = 280
)

// Data is what every template receives.
//
//	.Subject         the email's subject
//	.Digest          true for a digest (several notifications)
//	.Notification    the notification (an Item); in a digest, the first
//	.Notifications   every notification of the email, oldest first (a digest lists at
//	                 most MaxDigestItems; .More counts the rest)
//	.Count           how many notifications the email carries
//	.Profile         the recipient (.Profile.Email, .Profile.Locale, .Profile.Timezone)
//	.UnsubscribeURL  the link of the List-Unsubscribe header: stops this type's email,
//	                 or, for a digest of several types, all email (AllTypes)
//	.Types           the distinct types of the email, each with its own .UnsubscribeURL
//	.AppURL          the app (--public-url + "/")
//	.Unread          the user's unread count
//
// An Item has every field of tocsin.Notification (.Title, .Body, .Type, .ActionURL,
// .CreatedAt, ...) and:
//
//	.Heading         the title, or the type when there is none
//	.Link            the actionUrl when it is http: or https:, else "" (never link
//	                 anything else: a javascript: URL in an email is an attack)
//	.Excerpt         the body cut to about 280 characters, for lists
//	.UnsubscribeURL  stops email of this item's type
//
// html/template escapes every value for its context; text/template does not, and
// needs not: a text part is never interpreted.
type Data struct {
	Subject        string
	Digest         bool
	Notification   Item
	Notifications  []Item
	More           int
	Count          int
	Profile        tocsin.Profile
	UnsubscribeURL string
	Types          []TypeLink
	AppURL         string
	Unread         int
}

// Item is one notification as templates see it.
type Item struct {
	tocsin.Notification
	Heading        string
	Link           string
	Excerpt        string
	UnsubscribeURL string
}

// TypeLink is a type of the email and the link that stops its email.
type TypeLink struct {
	Type           string
	UnsubscribeURL string
}

// templates holds the parsed templates by name: a notification type, defaultName,
// digestName.
type templates struct {
	html map[string]*htmltemplate.Template
	text map[string]*texttemplate.Template
}

// loadTemplates parses the embedded templates, then the overrides of dir (when not
// ""): files named <type>.html, <type>.txt, default.*, digest.*; other files are
// ignored. Each template is also executed once on sample data, so that a misspelt
// field fails at start, not at the first email; errors name the file.
func loadTemplates(dir string) (*templates, error) {
	t := &templates{html: map[string]*htmltemplate.Template{}, text: map[string]*texttemplate.Template{}}
	for _, name := range []string{defaultName, digestName} {
		for _, ext := range []string{".html", ".txt"} {
			src, err := embedded.ReadFile("templates/" + name + ext)
			if err != nil {
				return nil, err
			}
			if err := t.add(name, ext, "embedded "+name+ext, string(src)); err != nil {
				return nil, err
			}
		}
	}
	if dir == "" {
		return t, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EInvalid, "--templates: %v", err)
	}
	n := 0
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if ext != ".html" && ext != ".txt" || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		name := strings.TrimSuffix(e.Name(), ext)
		if !tocsin.ValidName(name) {
			return nil, tocsin.Errorf(tocsin.EInvalid, "--templates: %s: the name must be a notification type ([A-Za-z0-9_.:-]{1,64}), default or digest", path)
		}
		if n++; n > maxTemplates {
			return nil, tocsin.Errorf(tocsin.EInvalid, "--templates: %s holds more than %d templates", dir, maxTemplates)
		}
		src, err := readLimited(path)
		if err != nil {
			return nil, tocsin.Errorf(tocsin.EInvalid, "--templates: %v", err)
		}
		if err := t.add(name, ext, path, src); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func readLimited(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTemplateFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTemplateFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxTemplateFile)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%s is not UTF-8", path)
	}
	return string(b), nil
}

// add parses src as the template name (ext says which kind) and tries it on
// sample data; file names it in errors.
func (t *templates) add(name, ext, file, src string) error {
	sample := sampleData(name == digestName)
	var err error
	if ext == ".html" {
		var tpl *htmltemplate.Template
		if tpl, err = htmltemplate.New(file).Option("missingkey=error").Parse(src); err == nil {
			if err = tpl.Execute(io.Discard, sample); err == nil {
				t.html[name] = tpl
			}
		}
	} else {
		var tpl *texttemplate.Template
		if tpl, err = texttemplate.New(file).Option("missingkey=error").Parse(src); err == nil {
			if err = tpl.Execute(io.Discard, sample); err == nil {
				t.text[name] = tpl
			}
		}
	}
	if err != nil {
		return tocsin.Errorf(tocsin.EInvalid, "--templates: %s: %v", file, err)
	}
	return nil
}

// render executes the templates for data: the type's own when it has one (and the
// email is not a digest), else default or digest; the HTML and the text choices
// are made separately, so a type may override only one of them.
func (t *templates) render(data *Data) (html, text string, err error) {
	fallback := defaultName
	if data.Digest {
		fallback = digestName
	}
	name := fallback
	if typ := data.Notification.Type; !data.Digest && typ != defaultName && typ != digestName {
		name = typ
	}
	h, ok := t.html[name]
	if !ok {
		h = t.html[fallback]
	}
	x, ok := t.text[name]
	if !ok {
		x = t.text[fallback]
	}
	var hb, xb bytes.Buffer
	if err := h.Execute(&hb, data); err != nil {
		return "", "", fmt.Errorf("email: template %s: %w", h.Name(), err)
	}
	if err := x.Execute(&xb, data); err != nil {
		return "", "", fmt.Errorf("email: template %s: %w", x.Name(), err)
	}
	return hb.String(), xb.String(), nil
}

// newItem makes the template view of n.
func newItem(n tocsin.Notification, unsubscribe string) Item {
	it := Item{Notification: n, Heading: n.Title, UnsubscribeURL: unsubscribe, Excerpt: excerpt(n.Body, excerptRunes)}
	if strings.TrimSpace(cleanSubject(it.Heading)) == "" {
		it.Heading = cmp.Or(n.Type, tocsin.DefaultType)
	}
	if safeLink(n.ActionURL) {
		it.Link = n.ActionURL
	}
	return it
}

// safeLink reports whether an actionUrl may be linked: an absolute http: or
// https: URL with a host. Anything else (javascript:, data:, a relative path that
// would resolve against nothing in a mail client) stays unlinked.
func safeLink(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}

// excerpt cuts s to at most n runes, at a space when one is near the end.
func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if n == 0 {
			cut = i
			break
		}
		n--
	}
	s = s[:cut]
	if i := strings.LastIndexAny(s, " \n\t"); i > len(s)*3/4 {
		s = s[:i]
	}
	return strings.TrimRight(s, " \n\t") + "…"
}

// sampleData is what loadTemplates tries each template on: every field set.
func sampleData(digest bool) *Data {
	n := tocsin.Notification{ID: "01J0000000000000000000000", UserID: "u", Type: "sample", Title: "Title",
		Body: "Body", Priority: 3, Tags: []string{"tag"}, ActionURL: "https://example.com/a", CreatedAt: time.Unix(0, 0).UTC()}
	it := newItem(n, "https://example.com/api/unsubscribe?token=t")
	d := &Data{Subject: "Title", Notification: it, Notifications: []Item{it}, Count: 1,
		Profile: tocsin.Profile{UserID: "u", Email: "u@example.com"}, UnsubscribeURL: it.UnsubscribeURL,
		Types: []TypeLink{{Type: "sample", UnsubscribeURL: it.UnsubscribeURL}}, AppURL: "https://example.com/", Unread: 1}
	if digest {
		d.Digest, d.Subject, d.Count, d.More = true, "2 new notifications", 2, 1
	}
	return d
}
