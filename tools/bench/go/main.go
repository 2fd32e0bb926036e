// gortbench/go: the Go side of gort's runtime microbenchmarks.
//
// spawn, pingpong, bufchan, select4 and mem are copied from
// /work/shared/bench/goruntime/main.go (the anchor harness, unchanged in what
// they measure); gosched and mutex are new:
//
//	-test spawn     spawn N goroutines that each do wg.Done(); wait        -> ns/goroutine
//	-test gosched   two goroutines alternating runtime.Gosched()           -> ns/round trip
//	-test pingpong  unbuffered channel ping-pong between 2 goroutines     -> ns/round trip
//	-test bufchan   1 producer -> 1 consumer over a cap-128 channel       -> ns/item
//	-test select4   ping-pong where the responder selects over 4 chans    -> ns/round trip
//	-test mutex     4 goroutines x N/4 Lock; counter++; Unlock on 1 Mutex -> ns/lock-unlock
//	-test mem       N goroutines parked on a channel                      -> RSS bytes/goroutine
//
// gosched definition (identical to gort's bench_yield): two goroutines each
// call runtime.Gosched() N times; main waits for both on a WaitGroup (parked).
// With GOMAXPROCS=1 each Gosched switches to the other goroutine, so a round
// trip is 2 Gosched calls and value = elapsed / N is ns per round trip.
//
// mutex definition (identical to gort's bench_mutex): 4 goroutines each do
// N/4 times { mu.Lock(); counter++; mu.Unlock() } on one sync.Mutex while main
// waits on a WaitGroup; value = elapsed / N is ns per Lock/Unlock pair (N is
// rounded down to a multiple of 4; the counter is checked).
//
// Each timed test runs -iters measured iterations (after one warm-up unless
// -warmup=false) and prints one JSON line with the median and all samples.
// -procs P sets GOMAXPROCS (0: keep $GOMAXPROCS / the default).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	test   = flag.String("test", "spawn", "spawn|gosched|pingpong|bufchan|select4|mutex|mem")
	n      = flag.Int("n", 1_000_000, "iterations / goroutines")
	iters  = flag.Int("iters", 5, "measured iterations")
	warmup = flag.Bool("warmup", true, "run one unmeasured warm-up iteration")
	procs  = flag.Int("procs", 0, "GOMAXPROCS (0: from the environment)")
)

func out(m map[string]any) {
	m["test"] = *test
	m["gomaxprocs"] = runtime.GOMAXPROCS(0)
	m["procs"] = runtime.GOMAXPROCS(0)
	m["go"] = runtime.Version()
	m["impl"] = "go"
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// measure runs f (which performs *n operations) and reports ns/op.
func measure(unit string, f func()) {
	if *warmup {
		f()
	}
	var samples []float64
	for i := 0; i < *iters; i++ {
		runtime.GC()
		t0 := time.Now()
		f()
		samples = append(samples, float64(time.Since(t0).Nanoseconds())/float64(*n))
	}
	med := median(samples)
	out(map[string]any{"n": *n, "value": med, "unit": unit, "samples": samples, "per_sec": 1e9 / med})
}

func main() {
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	// Hard bound on the whole process, whatever the parameters.
	time.AfterFunc(120*time.Second, func() { fmt.Fprintln(os.Stderr, "watchdog"); os.Exit(3) })
	switch *test {
	case "spawn":
		measure("ns/goroutine", func() {
			var wg sync.WaitGroup
			wg.Add(*n)
			for i := 0; i < *n; i++ {
				go func() { wg.Done() }()
			}
			wg.Wait()
		})
	case "gosched":
		measure("ns/roundtrip", func() {
			var wg sync.WaitGroup
			wg.Add(2)
			body := func() {
				for i := 0; i < *n; i++ {
					runtime.Gosched()
				}
				wg.Done()
			}
			go body()
			go body()
			wg.Wait()
		})
	case "pingpong":
		measure("ns/roundtrip", func() {
			ping, pong := make(chan int), make(chan int)
			go func() {
				for v := range ping {
					pong <- v
				}
				close(pong)
			}()
			for i := 0; i < *n; i++ {
				ping <- i
				<-pong
			}
			close(ping)
			<-pong
		})
	case "bufchan":
		measure("ns/item", func() {
			ch := make(chan int, 128)
			go func() {
				for i := 0; i < *n; i++ {
					ch <- i
				}
				close(ch)
			}()
			sum := 0
			for v := range ch {
				sum += v
			}
			_ = sum
		})
	case "select4":
		measure("ns/roundtrip", func() {
			var req [4]chan int
			for i := range req {
				req[i] = make(chan int)
			}
			reply, quit := make(chan int), make(chan struct{})
			go func() {
				for {
					select {
					case v := <-req[0]:
						reply <- v
					case v := <-req[1]:
						reply <- v
					case v := <-req[2]:
						reply <- v
					case v := <-req[3]:
						reply <- v
					case <-quit:
						return
					}
				}
			}()
			for i := 0; i < *n; i++ {
				req[i&3] <- i
				<-reply
			}
			close(quit)
		})
	case "mutex":
		const workers = 4
		*n -= *n % workers
		if *n == 0 {
			fmt.Fprintln(os.Stderr, "-n must be at least 4")
			os.Exit(2)
		}
		measure("ns/lock-unlock", func() {
			var mu sync.Mutex
			counter := 0
			var wg sync.WaitGroup
			wg.Add(workers)
			per := *n / workers
			for w := 0; w < workers; w++ {
				go func() {
					for i := 0; i < per; i++ {
						mu.Lock()
						counter++
						mu.Unlock()
					}
					wg.Done()
				}()
			}
			wg.Wait()
			if counter != *n {
				fmt.Fprintln(os.Stderr, "mutex: counter mismatch", counter)
				os.Exit(1)
			}
		})
	case "mem":
		runMem()
	default:
		fmt.Fprintln(os.Stderr, "unknown test")
		os.Exit(2)
	}
}

func vmRSS() int64 { return procStatus("VmRSS") }

// procStatus returns a /proc/self/status field in bytes (VmRSS, VmPTE), or -1.
func procStatus(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

// runMem: RSS growth for *n goroutines parked on one channel.
func runMem() {
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss0 := vmRSS()
	pte0 := procStatus("VmPTE")
	ch := make(chan struct{})
	var started, exited sync.WaitGroup
	started.Add(*n)
	exited.Add(*n)
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		go func() {
			started.Done()
			<-ch
			exited.Done()
		}()
	}
	started.Wait()
	spawn := time.Since(t0)
	time.Sleep(200 * time.Millisecond) // let the last ones park
	runtime.GC()
	rss1 := vmRSS()
	pte1 := procStatus("VmPTE")
	runtime.ReadMemStats(&ms1)
	ng := runtime.NumGoroutine()
	t1 := time.Now()
	close(ch)
	exited.Wait()
	wake := time.Since(t1)
	out(map[string]any{
		"n": *n, "num_goroutine": ng,
		"rss_before": rss0, "rss_after": rss1,
		"value": float64(rss1-rss0) / float64(*n), "unit": "RSS bytes/goroutine",
		"pte_per_g":         float64(pte1-pte0) / float64(*n), // page tables (not in RSS); added here
		"stack_inuse_per_g": float64(ms1.StackInuse-ms0.StackInuse) / float64(*n),
		"sys_per_g":         float64(ms1.Sys-ms0.Sys) / float64(*n),
		"spawn_ns_per_g":    float64(spawn.Nanoseconds()) / float64(*n),
		"wake_all_ns_per_g": float64(wake.Nanoseconds()) / float64(*n),
	})
}
