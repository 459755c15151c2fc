package httpapi

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
)

// publishBodies are bodies the shortcut of decodePublish takes, or must refuse.
var publishBodies = []string{
	`{"userId":"42","title":"hi","body":"a\nb","tags":["x"],"data":{"k":1}}`,
	` { "userId" : "42" , "type":"comment", "priority": 5, "tags": [ ], "data" : { "a" : [1, {"b": "}"}] } } `,
	`{"userIds":["a","b","c\u00e9"],"title":"t","message":"m","expiresAt":"2030-01-02T03:04:05Z"}`,
	`{"topic":"deploys","title":"\"quoted\" \\ back","actorId":"u1","entityType":"post","entityId":"9","actionUrl":"https://x/y?a=1&b=2","imageUrl":"","groupKey":"g"}`,
	`{"userId":"42","priority":-3}`,
	`{"userId":"42","priority":3.0}`,
	`{"userId":"42","priority":1e2}`,
	`{"userId":"42","priority":99999999999999999999}`,
	`{"userId":"42","priority":"3"}`,
	`{"userId":"42","title":null}`,
	`{"userId":"42","userIds":null}`,
	`{"userId":"42","data":null}`,
	`{"userId":"42","data":"text"}`,
	`{"userId":"42","data":[1,2]}`,
	`{"userId":"42","expiresAt":null}`,
	`{"userId":"42","expiresAt":"tomorrow"}`,
	`{"userId":"42","expiresAt":5}`,
	`{"userId":"42","UserID":"43"}`,
	`{"USERID":"42"}`,
	`{"userId":"42","userId":"43"}`,
	`{"userId":"42","tags":["a",1]}`,
	`{"userId":"42","tags":"a"}`,
	`{"userId":"42","nope":1}`,
	`{"us\u0065rId":"42"}`,
	`{"userId":"42"} {}`,
	`{"userId":"42",}`,
	`{"userId":"42"`,
	`[]`,
	`"x"`,
	``,
	`   `,
	`{}`,
	`{"userId":"42","title":"` + strings.Repeat("é", 40) + `"}`,
	`{"userId":"\u0000x"}`,
	`{"userId":"42","body":"<b>&amp;</b>"}`,
	`{"userId":"42","data":{"nested":{"deep":["x","y\"z",{"k":null}]},"n":-1.5e3}}`,
}

// TestDecodePublishMatchesDecodeJSON: the shortcut yields exactly what decodeJSON
// yields, value or error, for every body.
func TestDecodePublishMatchesDecodeJSON(t *testing.T) {
	for _, body := range publishBodies {
		checkDecodePublish(t, []byte(body))
	}
}

func checkDecodePublish(t *testing.T, body []byte) {
	t.Helper()
	var fast, slow tocsin.PublishInput
	errFast := decodePublish(body, &fast)
	errSlow := decodeJSON(body, &slow)
	if (errFast == nil) != (errSlow == nil) || (errSlow != nil && errFast.Error() != errSlow.Error()) {
		t.Fatalf("%s: decodePublish error %v, decodeJSON error %v", body, errFast, errSlow)
	}
	if errSlow == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s:\ndecodePublish %#v\ndecodeJSON    %#v", body, fast, slow)
	}
}

// FuzzDecodePublishShortcut compares the two decoders on arbitrary bodies.
func FuzzDecodePublishShortcut(f *testing.F) {
	for _, body := range publishBodies {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodePublish(t, body)
	})
}

// TestFastPublishTaken: the common bodies do take the shortcut.
func TestFastPublishTaken(t *testing.T) {
	for _, body := range publishBodies[:5] {
		var in tocsin.PublishInput
		if !fastPublish([]byte(body), &in) {
			t.Errorf("%s went the long way", body)
		}
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	body := []byte(`{"userId":"bench-3-42","type":"bench","title":"bench","data":{"sentNs":1764456000000000000}}`)
	b.ReportAllocs()
	for range b.N {
		var in tocsin.PublishInput
		if err := decodePublish(body, &in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSONPublish(b *testing.B) {
	body := []byte(`{"userId":"bench-3-42","type":"bench","title":"bench","data":{"sentNs":1764456000000000000}}`)
	b.ReportAllocs()
	for range b.N {
		var in tocsin.PublishInput
		if err := decodeJSON(body, &in); err != nil {
			b.Fatal(err)
		}
	}
}
