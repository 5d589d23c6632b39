// Command driftstream writes the drifting stream of docs/adaptation.md
// from the test bed's data/val.jsonl: a first part ("pre") of items drawn
// in the file's own mix (like data/calib.jsonl: arithmetic, facts, reverse),
// then a part ("post") where questions about rare facts (task facts with
// difficulty above 800, the capitals of rarely seen countries) make up
// -rare of the traffic and the rest keeps the mix. val.jsonl holds 231 rare
// facts, so the post part draws them with replacement (a user asks again);
// the other items are drawn without replacement. Deterministic for a seed.
//
//	go run ./scripts/driftstream -val testdata/testbed/data/val.jsonl -out stream.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
)

type item struct {
	Task       string `json:"task"`
	Difficulty int    `json:"difficulty"`
	Prompt     string `json:"prompt"`
	Answer     string `json:"answer"`
	Phase      string `json:"phase"`
}

func main() {
	val := flag.String("val", "testdata/testbed/data/val.jsonl", "the test bed's val.jsonl")
	out := flag.String("out", "stream.jsonl", "stream to write")
	pre := flag.Int("pre", 500, "items before the shift")
	post := flag.Int("post", 900, "items after the shift")
	rare := flag.Float64("rare", 0.8, "share of rare facts after the shift")
	minDiff := flag.Int("rare-difficulty", 800, "a fact is rare above this difficulty")
	seed := flag.Uint64("seed", 15, "seed")
	flag.Parse()
	if err := run(*val, *out, *pre, *post, *rare, *minDiff, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "driftstream:", err)
		os.Exit(1)
	}
}

func run(val, out string, pre, post int, rare float64, minDiff int, seed uint64) error {
	f, err := os.Open(val)
	if err != nil {
		return err
	}
	defer f.Close()
	var all, rares []item
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var it item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return err
		}
		all = append(all, it)
		if it.Task == "facts" && it.Difficulty > minDiff {
			rares = append(rares, it)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if pre+post > len(all) {
		return fmt.Errorf("%d items asked, %s has %d", pre+post, val, len(all))
	}
	var stream []item
	next := 0
	for range pre {
		it := all[next]
		next++
		it.Phase = "pre"
		stream = append(stream, it)
	}
	for range post {
		var it item
		if rng.Float64() < rare {
			it = rares[rng.IntN(len(rares))]
		} else {
			for { // the mix, without the rare facts (they have their share)
				it = all[next]
				next++
				if !(it.Task == "facts" && it.Difficulty > minDiff) {
					break
				}
			}
		}
		it.Phase = "post"
		stream = append(stream, it)
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for _, it := range stream {
		if err := enc.Encode(it); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}
