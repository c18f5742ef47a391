"""The device half of mobikit: adb, the demo app's contract, deploy and on-device benchmarks."""
