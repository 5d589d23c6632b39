package main

import (
	"bufio"
	"context"
	"debug/elf"
	byteorder "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgecascade/edgecascade/configs"
	"github.com/edgecascade/edgecascade/uq"
)

// daemonMem is what the idle `serve` process holds.
type daemonMem struct {
	rss, anon, file float64 // MB, from /proc/PID/status
	// mappings is the resident size of each mapping of the binary (text,
	// read-only data, data) and of the rest, in MB.
	mappings []mappingRSS
	// packages is the binary's resident bytes by package, largest first.
	packages []packageRSS
	// stats are runtime.MemStats lines of the heap profile (HeapInuse, …).
	stats map[string]string
	// heap is the heap profile (pprof protobuf, gzipped).
	heap []byte
}

type mappingRSS struct {
	name   string
	sizeMB float64
	rssMB  float64
}

type packageRSS struct {
	pkg   string
	bytes int64
}

// benchMemory measures the idle daemon three times: this binary as it is
// (right after `go build` the linker's output is in the page cache in a way
// that lets the kernel map far more of it than the daemon touches), an
// installed copy (written with write(2), like cp or a package manager), and
// that copy evicted from the page cache. It writes section 4: RSS, where it
// goes by mapping and by package for the copies, and the Go heap. heapOut,
// when set, receives the heap profile of the installed copy.
func benchMemory(ctx context.Context, rep io.Writer, cfg *configs.Config, exe string, idle, peak float64, heapOut string) {
	fmt.Fprintf(rep, "## 4. Resident memory\n\n| process | state | RSS | goal |\n|---|---|---|---|\n")
	row := func(state string, m *daemonMem, err error) {
		if err != nil {
			fmt.Fprintf(rep, "| `edgecascade serve` | %s | not measured: %v | ≤ 40 MB |\n", state, err)
			return
		}
		fmt.Fprintf(rep, "| `edgecascade serve` | %s | %.1f MB (%.1f MB anonymous, %.1f MB file-backed: the binary's pages) | ≤ 40 MB |\n", state, m.rss, m.anon, m.file)
	}
	asIs, err := daemonIdle(ctx, cfg, exe)
	row("idle, this binary as it is (e.g. fresh from `go build`)", asIs, err)
	hot, err := installedDaemonIdle(ctx, cfg, exe, false)
	row("idle, installed copy of the binary", hot, err)
	cold, coldErr := installedDaemonIdle(ctx, cfg, exe, true)
	row("idle, installed copy, not in the page cache", cold, coldErr)
	fmt.Fprintf(rep, "| this bench process | before the load | %.1f MB | |\n| this bench process | under load (peak sampled) | %.1f MB | |\n\n", idle, peak)
	if hot == nil {
		return
	}
	fmt.Fprintf(rep, "Where the idle daemon's RSS goes (installed copy in the page cache, then not), from /proc/PID/smaps:\n\n| mapping | size | resident, cached | resident, not cached |\n|---|---|---|---|\n")
	for i, m := range hot.mappings {
		c := "n/a"
		if cold != nil && i < len(cold.mappings) && cold.mappings[i].name == m.name {
			c = fmt.Sprintf("%.1f MB", cold.mappings[i].rssMB)
		}
		size := "—"
		if m.sizeMB > 0 {
			size = fmt.Sprintf("%.1f MB", m.sizeMB)
		}
		fmt.Fprintf(rep, "| %s | %s | %.1f MB | %s |\n", m.name, size, m.rssMB, c)
	}
	fmt.Fprintln(rep)
	if len(hot.packages) > 0 {
		fmt.Fprintf(rep, "The binary's resident pages by package (/proc/PID/pagemap present bits against the ELF symbol table; bytes of the symbols on resident pages; top 12):\n\n| package | resident, cached | resident, not cached |\n|---|---|---|\n")
		coldBy := map[string]int64{}
		if cold != nil {
			for _, p := range cold.packages {
				coldBy[p.pkg] = p.bytes
			}
		}
		for _, p := range hot.packages[:min(12, len(hot.packages))] {
			fmt.Fprintf(rep, "| %s | %.1f MB | %.1f MB |\n", p.pkg, float64(p.bytes)/(1<<20), float64(coldBy[p.pkg])/(1<<20))
		}
		fmt.Fprintln(rep)
	}
	if len(hot.stats) > 0 {
		fmt.Fprintf(rep, "Go runtime of the idle daemon (heap profile's MemStats, after a GC):")
		for _, k := range []string{"HeapInuse", "HeapSys", "Stack", "Sys"} {
			if v, ok := hot.stats[k]; ok {
				fmt.Fprintf(rep, " %s %s;", k, v)
			}
		}
		fmt.Fprintln(rep)
		if heapOut != "" && hot.heap != nil {
			if err := os.WriteFile(heapOut, hot.heap, 0o644); err != nil {
				fmt.Fprintf(rep, "heap profile not written: %v\n", err)
			} else {
				fmt.Fprintf(rep, "heap profile: `go tool pprof -top -sample_index=inuse_space %s`\n", heapOut)
			}
		}
		fmt.Fprintln(rep)
	}
}

// installedDaemonIdle measures a fresh copy of the binary; evict drops its
// pages from the page cache first, so that only the pages the daemon (and
// the kernel's read-around) faults in become resident.
func installedDaemonIdle(ctx context.Context, cfg *configs.Config, exe string, evict bool) (*daemonMem, error) {
	dir, err := os.MkdirTemp("", "edgecascade-bench-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, "edgecascade")
	if err := copyFile(exe, cp); err != nil {
		return nil, fmt.Errorf("copy the binary: %w", err)
	}
	if evict {
		f, err := os.Open(cp)
		if err != nil {
			return nil, err
		}
		err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("evict the binary from the page cache: %w", err)
		}
	}
	return daemonIdle(ctx, cfg, cp)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil { // written pages must be clean to be evicted
		out.Close()
		return err
	}
	return out.Close()
}

// daemon is a running `edgecascade serve` with a throw-away data folder.
type daemon struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	dir  string // data_dir
}

// startDaemon runs exe with args (a serve command line) and env added to
// this process's environment, with a throw-away data folder, and waits
// until it listens.
func startDaemon(ctx context.Context, exe string, args, env []string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "edgecascade-bench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(append(os.Environ(), "EDGECASCADE_DATA_DIR="+dir), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := &daemon{cmd: cmd, dir: dir}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				ready <- u
			}
		}
		close(ready)
	}()
	select {
	case u, ok := <-ready:
		if !ok {
			d.stop()
			return nil, errors.New("serve exited at start")
		}
		d.base = u
	case <-time.After(20 * time.Second):
		d.stop()
		return nil, errors.New("serve did not start within 20s")
	}
	return d, nil
}

// stop kills the daemon and removes its data folder.
func (d *daemon) stop() {
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	os.RemoveAll(d.dir)
}

// daemonIdle starts exe's `serve` on a free loopback port with a throw-away
// data folder and profiles on, waits until it listens, settles for a second,
// reads its resident memory and then fetches its heap profile.
func daemonIdle(ctx context.Context, cfg *configs.Config, exe string) (*daemonMem, error) {
	// /proc/PID/maps names the binary by its resolved path.
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	d, err := startDaemon(ctx, exe, []string{"serve", "--listen", "127.0.0.1:0", "--local.url", cfg.Local.URL, "--local.model", cfg.Local.Model,
		"--cascade.calibration", "", "--cascade.scorer", uq.MeanLogprob, "--server.pprof=true"},
		[]string{"EDGECASCADE_PROBE_PATH=", "EDGECASCADE_PROBE_PREGEN_PATH="})
	if err != nil {
		return nil, err
	}
	defer d.stop()
	time.Sleep(time.Second)
	pid := strconv.Itoa(d.cmd.Process.Pid)
	m := &daemonMem{rss: procStatusMB(pid, "VmRSS:"), anon: procStatusMB(pid, "RssAnon:"), file: procStatusMB(pid, "RssFile:")}
	m.mappings, _ = smapsByMapping(pid, exe)
	m.packages, _ = residentByPackage(pid, exe)
	// After the RSS is read: fetching the profile allocates.
	if b, err := httpGet(ctx, d.base+"/debug/pprof/heap?gc=1"); err == nil {
		m.heap = b
	}
	if b, err := httpGet(ctx, d.base+"/debug/pprof/heap?debug=1"); err == nil {
		m.stats = memStats(string(b))
	}
	return m, nil
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// memStats picks the "# Name = value" lines of a debug=1 heap profile.
func memStats(profile string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(profile, "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if ok && strings.HasPrefix(line, "# ") {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				v = fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
			} else if a, b, ok := strings.Cut(v, " / "); ok { // "Stack = inuse / sys"
				na, _ := strconv.ParseUint(a, 10, 64)
				nb, _ := strconv.ParseUint(b, 10, 64)
				v = fmt.Sprintf("%.1f MB in use of %.1f MB", float64(na)/(1<<20), float64(nb)/(1<<20))
			}
			out[k] = v
		}
	}
	return out
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uint64
	perms      string
	path       string
}

func procMaps(pid string) ([]mapping, error) {
	b, err := os.ReadFile("/proc/" + pid + "/maps")
	if err != nil {
		return nil, err
	}
	var out []mapping
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		m := mapping{start: start, end: end, perms: f[1]}
		if len(f) >= 6 {
			m.path = f[5]
		}
		out = append(out, m)
	}
	return out, nil
}

// smapsByMapping sums the Rss of /proc/PID/smaps: each mapping of the
// binary by its permissions (text, read-only data, data), libraries, and
// anonymous memory.
func smapsByMapping(pid, exe string) ([]mappingRSS, error) {
	b, err := os.ReadFile("/proc/" + pid + "/smaps")
	if err != nil {
		return nil, err
	}
	names := map[string]string{"r-xp": "binary: code (.text)", "r--p": "binary: read-only data (.rodata, .gopclntab, …)", "rw-p": "binary: data (.data, .noptrdata; .bss is anonymous)"}
	order := []string{}
	sum := map[string]*mappingRSS{}
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			path := ""
			if len(f) >= 6 {
				path = f[5]
			}
			switch {
			case path == exe && names[f[1]] != "":
				cur = names[f[1]]
			case strings.HasPrefix(path, "/"):
				cur = "shared libraries (libc, ld.so)"
			default:
				cur = "anonymous: Go heap, stacks, runtime, .bss"
			}
			if sum[cur] == nil {
				sum[cur] = &mappingRSS{name: cur}
				order = append(order, cur)
			}
			if path == exe {
				lo, hi, _ := strings.Cut(f[0], "-")
				s, _ := strconv.ParseUint(lo, 16, 64)
				e, _ := strconv.ParseUint(hi, 16, 64)
				sum[cur].sizeMB += float64(e-s) / (1 << 20)
			}
			continue
		}
		if len(f) >= 2 && f[0] == "Rss:" && cur != "" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			sum[cur].rssMB += kb / 1024
		}
	}
	out := make([]mappingRSS, 0, len(order))
	slices.Sort(order) // the same order in every run
	for _, k := range order {
		out = append(out, *sum[k])
	}
	return out, nil
}

// residentByPackage attributes the resident pages of the binary's
// mappings to the packages whose symbols lie on them: the present bit of
// /proc/PID/pagemap for each page, and the binary's ELF symbol table. Bytes
// on resident pages that no symbol covers are counted by section.
func residentByPackage(pid, exe string) ([]packageRSS, error) {
	ef, err := elf.Open(exe)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		return nil, fmt.Errorf("symbols of %s (stripped?): %w", exe, err)
	}
	syms = slices.DeleteFunc(syms, func(s elf.Symbol) bool { return s.Size == 0 || s.Value == 0 })
	slices.SortFunc(syms, func(a, b elf.Symbol) int { return compareU64(a.Value, b.Value) })
	maps, err := procMaps(pid)
	if err != nil {
		return nil, err
	}
	pm, err := os.Open("/proc/" + pid + "/pagemap")
	if err != nil {
		return nil, err
	}
	defer pm.Close()
	const page = 4096
	by := map[string]int64{}
	for _, m := range maps {
		if m.path != exe {
			continue
		}
		n := (m.end - m.start) / page
		buf := make([]byte, 8*n)
		if _, err := pm.ReadAt(buf, int64(m.start/page*8)); err != nil {
			return nil, fmt.Errorf("read pagemap: %w", err)
		}
		for i := range n {
			if byteorder.LittleEndian.Uint64(buf[8*i:])&(1<<63) == 0 {
				continue
			}
			lo := m.start + i*page
			hi := lo + page
			covered := uint64(0)
			// First symbol that ends after lo.
			k, _ := slices.BinarySearchFunc(syms, lo, func(s elf.Symbol, v uint64) int { return compareU64(s.Value+s.Size, v+1) })
			for ; k < len(syms) && syms[k].Value < hi; k++ {
				s := syms[k]
				a, b := max(s.Value, lo), min(s.Value+s.Size, hi)
				if b > a {
					by[symbolPackage(s.Name)] += int64(b - a)
					covered += b - a
				}
			}
			if covered < page {
				by["("+sectionAt(ef, lo)+", no symbol)"] += int64(page - min(covered, page))
			}
		}
	}
	out := make([]packageRSS, 0, len(by))
	for p, b := range by {
		out = append(out, packageRSS{pkg: p, bytes: b})
	}
	slices.SortFunc(out, func(a, b packageRSS) int {
		if a.bytes != b.bytes {
			return int(b.bytes - a.bytes)
		}
		return strings.Compare(a.pkg, b.pkg)
	})
	return out, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sectionAt(ef *elf.File, addr uint64) string {
	for _, s := range ef.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && addr >= s.Addr && addr < s.Addr+s.Size {
			return s.Name
		}
	}
	return "?"
}

// symbolPackage groups a Go symbol name by module: the standard library by
// its top folder ("crypto", "runtime"), others by their first three path
// elements ("github.com/openai/openai-go").
func symbolPackage(name string) string {
	if strings.HasPrefix(name, "go:func.") {
		return "go:func.* (closure and func metadata)"
	}
	for _, p := range []string{"type:", "go:itab.", "go:", "*"} {
		name = strings.TrimPrefix(name, p)
	}
	end := len(name)
	if i := strings.IndexAny(name, "(["); i >= 0 {
		end = i
	}
	path := name[:end]
	if i := strings.LastIndex(path, "/"); i >= 0 {
		if j := strings.Index(path[i:], "."); j >= 0 {
			path = path[:i+j]
		}
	} else if j := strings.Index(path, "."); j >= 0 {
		path = path[:j]
	}
	parts := strings.Split(path, "/")
	if !strings.Contains(parts[0], ".") {
		return parts[0]
	}
	return strings.Join(parts[:min(3, len(parts))], "/")
}
