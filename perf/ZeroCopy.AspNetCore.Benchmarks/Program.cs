using BenchmarkDotNet.Running;

// perf/bench.sh [BenchmarkDotNet arguments], for example:
//   perf/bench.sh --filter '*'                 every benchmark, default job
//   perf/bench.sh --filter '*Range*' --job short
//   perf/bench.sh --list flat                  the names
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
