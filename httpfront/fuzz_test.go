package httpfront

import (
	"bytes"
	"testing"
)

// FuzzRequestParameters feeds arbitrary bytes to every parser of request
// input (path, Accept, Content-Type, GUIDs, positions, numbers,
// If-None-Match, Accept-Encoding) and checks they never panic and that the
// ones with an inverse round-trip.
func FuzzRequestParameters(f *testing.F) {
	for _, s := range []string{
		"/streams/%24all/head/backward/20", "application/json;q=0.5, */*", "text/xml; charset=utf-8",
		"3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11", "{3b0a4f5e-2d5c-4f1e-9a57-0d6f0b3e8c11}", "000000000000126E000000000000126E",
		`"5;-2060438500"`, "gzip, deflate", "-9223372036854775808", "head", "%", "a,b;q=x,;;,/", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var segs [maxSegments][]byte
		splitPath(in, nil, &segs)
		if m, res := negotiate(feedCodecs, nil, in, true); res == negotiateOK && m == mtNone {
			t.Fatalf("negotiate OK without a type for %q", in)
		}
		negotiate(pingCodecs, in, nil, false)
		requestMedia(in, writeCodecs)
		acceptHasStarStar(in)
		chooseEncoding(in)
		parseIfNoneMatch(in, mtAtomJSON)
		parseEmbed(in)
		eventNumberParam(in, true)
		countParam(in)
		if id, ok := parseGUID(in); ok {
			back, ok2 := parseGUID(appendGUID(nil, &id))
			if !ok2 || back != id {
				t.Fatalf("GUID round trip failed for %q", in)
			}
		}
		if c, p, ok := parsePosition(in); ok {
			if !bytes.EqualFold(appendPosition(nil, c, p), in) {
				t.Fatalf("position round trip failed for %q", in)
			}
		}
		if n, ok := parseInt64(in); ok {
			if m, ok2 := parseInt64([]byte(itoa64(n))); !ok2 || m != n {
				t.Fatalf("int round trip failed for %q", in)
			}
		}
		var w jw
		w.reset(nil)
		w.strB(in)
		if !jsonValidString(w.b) {
			t.Fatalf("JSON string of %q is not valid JSON: %q", in, w.b)
		}
	})
}
