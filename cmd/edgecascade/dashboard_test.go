package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The dashboard (agent/ui) in a real browser: Debian's chromium, headless,
// driven over the DevTools protocol (chromedp), against the real daemon on
// the test bed. scripts/test.sh installs chromium (scripts/install-chromium.sh).

var updateScreenshots = flag.Bool("update-screenshots", false, "write the dashboard's screenshots to docs/ from the browser test")

// chromiumPath is the browser: EDGECASCADE_CHROMIUM, else chromium on PATH.
// Without one the test is skipped, except in CI (CI=true), where
// scripts/test.sh has installed it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("EDGECASCADE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium: scripts/install-chromium.sh installs it")
	}
	t.Skip("skipping the browser test: no chromium (scripts/install-chromium.sh installs it)")
	return ""
}

// browser is one headless chromium tab; errs collects the page's console
// errors, uncaught exceptions and browser log errors (CSP violations among
// them).
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-gpu", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first run starts the browser: without a timeout (it would stop
	// the browser), before the console subscription.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errs = append(b.errs, m.String()+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelCtx(); <-done })
	return b
}

// errors returns the errors seen, less those that match an allowed
// substring.
func (b *browser) errors(allowed ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
next:
	for _, e := range b.errs {
		for _, a := range allowed {
			if strings.Contains(e, a) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// do runs the steps with a deadline.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v (page errors: %v)", what, err, b.errors())
	}
}

// eval evaluates a JavaScript expression into out.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v (page errors: %v)", js, err, b.errors())
	}
	return v
}

// waitJS polls a JavaScript condition until it is true.
func (b *browser) waitJS(t *testing.T, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !eval[bool](t, b, cond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 90 s (page errors: %v)\n%.3000s", what, b.errors(), eval[string](t, b, "document.body.innerText"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) text(t *testing.T, js string) string {
	t.Helper()
	return eval[string](t, b, js)
}

// askAPI sends one question through the OpenAI-compatible API and returns
// the response's id and route.
func askAPI(t *testing.T, url, token, question string) (string, string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":"auto","temperature":0,"messages":[{"role":"user","content":%q}]}`, question)
	req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		ID      string `json:"id"`
		Cascade struct {
			Route string `json:"route"`
		} `json:"cascade"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ask %q: %d %v", question, resp.StatusCode, err)
	}
	return c.ID, c.Cascade.Route
}

// valQuestions are the first n prompts of the test bed's validation set.
func valQuestions(t *testing.T, n int) []string {
	t.Helper()
	f, err := os.Open(testbedFile(t, "val.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		var it struct{ Prompt string }
		if json.Unmarshal(sc.Bytes(), &it) == nil && it.Prompt != "" {
			out = append(out, it.Prompt)
		}
	}
	return out
}

// dashboardDaemon is the real daemon on the test bed with the test bed's
// calibration (docs/eval-testbed) and the given extra environment.
func dashboardDaemon(t *testing.T, extra map[string]string) *daemonProc {
	t.Helper()
	env := bedEnv(needBed(t))
	calib, err := filepath.Abs(filepath.Join("..", "..", "docs", "eval-testbed", "calibration.json"))
	if err != nil {
		t.Fatal(err)
	}
	env["EDGECASCADE_CASCADE_CALIBRATION"] = calib
	// Prices, for the cost and the savings against always-cloud.
	env["EDGECASCADE_CLOUD_COST_INPUT_PER_1K"] = "0.0025"
	env["EDGECASCADE_CLOUD_COST_OUTPUT_PER_1K"] = "0.01"
	for k, v := range extra {
		env[k] = v
	}
	return startServe(t, env)
}

// TestDashboardInBrowser: the page loads with no console error (nor CSP
// violation), shows a decision sent through the API as it happens, answers
// from the try-it box with its decision, and stays within an 800×480
// screen (a Jetson's 7" display) without horizontal scrolling. The page's
// load time on loopback is logged (not asserted). With -update-screenshots
// it writes docs/dashboard.png and docs/dashboard-7inch.png.
func TestDashboardInBrowser(t *testing.T) {
	d := dashboardDaemon(t, nil)
	b := newBrowser(t, 1280, 1000)

	start := time.Now()
	b.do(t, "open /ui", chromedp.Navigate(d.url+"/ui"))
	b.waitJS(t, "the health shown", `document.querySelector("#status").classList.contains("ok")`)
	toData := time.Since(start)
	nav := eval[struct {
		DCL  float64 `json:"dcl"`
		Load float64 `json:"load"`
	}](t, b, `(() => { const n = performance.getEntriesByType("navigation")[0];
		return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()`)
	t.Logf("dashboard load on loopback: DOMContentLoaded %.1f ms, load %.1f ms, first data shown %.0f ms after navigation began", nav.DCL, nav.Load, float64(toData.Microseconds())/1000)

	// A decision made through the API appears in the live table.
	qs := valQuestions(t, 12)
	id, route := askAPI(t, d.url, "", qs[0])
	b.waitJS(t, "the decision in the table", fmt.Sprintf(`!!document.querySelector('#decisions tbody tr[data-id=%q]')`, id))
	if got := b.text(t, fmt.Sprintf(`document.querySelector('#decisions tbody tr[data-id=%q] td:nth-child(3)').textContent`, id)); got != route {
		t.Fatalf("row route %q, the API said %q", got, route)
	}
	// The row opens the full decision.
	b.do(t, "open the decision", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#decisions tbody tr[data-id=%q]`, id))))
	b.waitJS(t, "the decision's details", `document.querySelector("#detail").open && document.querySelector("#detail-body").textContent.includes("reason")`)
	b.do(t, "close the decision", chromedp.Click(chromedp.CSS("#detail-close")))
	for _, q := range qs[1:] {
		askAPI(t, d.url, "", q)
	}
	b.waitJS(t, "every decision in the table", `document.querySelectorAll("#decisions tbody tr").length >= 12`)
	b.waitJS(t, "the summary counts them", `document.querySelector("#usage tbody tr td:nth-child(2)").textContent === "12"`)
	if src := b.text(t, `document.querySelector("#confidence").textContent`); !strings.Contains(src, "calibration.json") || !strings.Contains(src, "accepted accuracy") {
		t.Fatalf("confidence section: %q", src)
	}

	// The try-it box answers, with its decision.
	b.do(t, "ask in the try-it box",
		chromedp.SetValue(chromedp.CSS("#try-q"), "Spell rmzf backwards."),
		chromedp.SetValue(chromedp.CSS("#try-policy"), "local"),
		chromedp.Click(chromedp.CSS("#try-send")))
	b.waitJS(t, "the try-it answer", `(() => { const a = document.querySelector("#try-answer").textContent; return a !== "" && a !== "…"; })()`)
	if ans, dec := b.text(t, `document.querySelector("#try-answer").textContent`), b.text(t, `document.querySelector("#try-decision").textContent`); !strings.Contains(ans, "fzmr") || !strings.Contains(dec, "route") || !strings.Contains(dec, "local") {
		t.Fatalf("try-it: answer %q, decision %q", ans, dec)
	}
	if *updateScreenshots {
		eval[bool](t, b, `window.scrollTo(0, 0) === undefined`)
		writeScreenshot(t, "dashboard.png", eval2(t, b, chromedp.FullScreenshot(100))) // 100: PNG
	}

	// A 7" screen: 800×480, no horizontal overflow, every section reachable.
	b.do(t, "800×480", chromedp.EmulateViewport(800, 480))
	b.waitJS(t, "the layout at 800 px", `document.documentElement.scrollWidth <= window.innerWidth`)
	overflow := eval[[]string](t, b, `[...document.querySelectorAll("main > section")].filter(s => s.getBoundingClientRect().right > window.innerWidth + 1).map(s => s.id)`)
	if len(overflow) > 0 {
		t.Fatalf("sections wider than 800 px: %v", overflow)
	}
	if *updateScreenshots {
		eval[bool](t, b, `window.scrollTo(0, 0) === undefined`)
		writeScreenshot(t, "dashboard-7inch.png", eval2(t, b, chromedp.CaptureScreenshot()))
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}

// TestDashboardToken: with server.auth_token set, the page loads (its files
// hold no data) but the API refuses it: it asks for the token and shows
// nothing; once the token is entered (kept in sessionStorage, never in the
// URL) it shows the daemon's state and live decisions.
func TestDashboardToken(t *testing.T) {
	const token = "dashboard-test-token"
	d := dashboardDaemon(t, map[string]string{"EDGECASCADE_SERVER_AUTH_TOKEN": token})
	b := newBrowser(t, 1024, 768)
	b.do(t, "open /", chromedp.Navigate(d.url+"/"))
	b.waitJS(t, "the token form", `getComputedStyle(document.querySelector("#login")).display !== "none" && getComputedStyle(document.querySelector("#main")).display === "none"`)
	if s := b.text(t, `document.querySelector("#status").textContent`); s != "token needed" {
		t.Fatalf("status without the token: %q", s)
	}
	if n := b.text(t, `String(document.querySelectorAll("#usage tbody tr").length)`); n != "0" {
		t.Fatalf("the page shows %s usage rows without the token", n)
	}
	// A wrong token is refused too.
	b.do(t, "a wrong token", chromedp.SetValue(chromedp.CSS("#token"), "wrong"), chromedp.Click(chromedp.CSS("#login-form button")))
	b.waitJS(t, "the refusal", `document.querySelector("#login-msg").textContent.includes("refused")`)
	b.do(t, "the token", chromedp.SetValue(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login-form button")))
	b.waitJS(t, "the dashboard", `getComputedStyle(document.querySelector("#login")).display === "none" && getComputedStyle(document.querySelector("#main")).display !== "none" && document.querySelector("#status").classList.contains("ok")`)
	if u := b.text(t, `location.href`); strings.Contains(u, token) {
		t.Fatalf("the token is in the URL: %s", u)
	}
	if s := b.text(t, `sessionStorage.getItem("edgecascade.token")`); s != token {
		t.Fatalf("sessionStorage holds %q", s)
	}
	id, _ := askAPI(t, d.url, token, "Spell rmzf backwards.")
	b.waitJS(t, "the decision in the table", fmt.Sprintf(`!!document.querySelector('#decisions tbody tr[data-id=%q]')`, id))
	// The refusals before the token are the only errors (the browser logs
	// each 401).
	if errs := b.errors("401"); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}

// eval2 runs an action that returns bytes (a screenshot).
func eval2(t *testing.T, b *browser, a chromedp.Action[[]byte]) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return v
}

func writeScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "docs", name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}

// TestDashboardFeedback: the thumbs are shown when the daemon serves
// POST /v1/cascade/feedback, and a thumbs-down click reaches it: the row
// says it was sent, the decision log holds the label (wrong, by feedback),
// and the daemon refuses the opposite label (409). With adapt.enabled the
// Confidence section shows the online threshold.
func TestDashboardFeedback(t *testing.T) {
	d := dashboardDaemon(t, map[string]string{"EDGECASCADE_ADAPT_ENABLED": "true"})
	b := newBrowser(t, 1024, 768)
	b.do(t, "open /ui", chromedp.Navigate(d.url+"/ui"))
	b.waitJS(t, "the health shown", `document.querySelector("#status").classList.contains("ok")`)
	id, _ := askAPI(t, d.url, "", "Spell rmzf backwards.")
	row := fmt.Sprintf(`#decisions tbody tr[data-id=%q]`, id)
	b.waitJS(t, "the decision's thumbs", fmt.Sprintf(`!!document.querySelector('%s button[data-correct="false"]')`, row))
	b.do(t, "thumbs down", chromedp.Click(chromedp.CSS(row+` button[data-correct="false"]`)))
	b.waitJS(t, "the feedback sent", fmt.Sprintf(`document.querySelector('%s td.fb').textContent.includes("sent")`, row))
	b.waitJS(t, "the label counted", `document.querySelector("#confidence").textContent.includes("from labels")`)
	b.waitJS(t, "the online threshold", `document.querySelector("#confidence").textContent.includes("online threshold")`)
	// The daemon holds the label: the decision log shows it, and the
	// opposite label is refused (409) without replace.
	resp, err := http.Get(d.url + "/v1/cascade/decisions?n=5")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct {
			ID    string `json:"id"`
			Label *struct {
				Correct bool   `json:"correct"`
				Source  string `json:"source"`
			} `json:"label"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	labelled := false
	for _, e := range list.Data {
		labelled = labelled || (e.ID == id && e.Label != nil && !e.Label.Correct && e.Label.Source == "feedback")
	}
	if !labelled {
		t.Fatalf("decision %s not labelled wrong by feedback in the log: %+v", id, list.Data)
	}
	resp, err = http.Post(d.url+"/v1/cascade/feedback", "application/json", strings.NewReader(fmt.Sprintf(`{"id":%q,"correct":true}`, id)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("the opposite label for %s: %d, want 409", id, resp.StatusCode)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}
