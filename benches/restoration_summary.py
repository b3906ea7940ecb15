#!/usr/bin/env python3
"""Summarises benchmark 5's JSON reports: lcm against the best alternative on each metric.

    benches/restoration_summary.py out/restoration/*.json
"""
import json
import sys

print("| clip | case | lcm PSNR / LPIPS | best other PSNR | best other LPIPS | lcm temporal error / best other | beats both? |")
print("|---|---|---|---|---|---|---|")
wins = 0
rows = 0
for path in sys.argv[1:]:
    for report in json.load(open(path)):
        methods = report["methods"]
        if "lcm" not in methods:
            continue
        lcm = methods.pop("lcm")
        name = path.rsplit("/", 1)[-1].removesuffix(".json")
        clip, case = name.rsplit("-", 1)
        best_psnr = max(methods.items(), key=lambda m: m[1]["psnr"])
        best_lpips = min(methods.items(), key=lambda m: m[1]["lpips"] if m[1]["lpips"] is not None else 9)
        best_temporal = min(m["temporal_error"] for m in methods.values())
        # The bar: LPIPS below every alternative's, PSNR at least the best − 0.5 dB.
        ok = lcm["lpips"] < best_lpips[1]["lpips"] and lcm["psnr"] >= best_psnr[1]["psnr"] - 0.5
        wins += ok
        rows += 1
        print(
            f"| {clip} | {case} | {lcm['psnr']:.2f} / {lcm['lpips']:.4f} | {best_psnr[1]['psnr']:.2f} ({best_psnr[0]}) "
            f"| {best_lpips[1]['lpips']:.4f} ({best_lpips[0]}) | {lcm['temporal_error']:.5f} / {best_temporal:.5f} | {'yes' if ok else 'no'} |"
        )
print(f"\nlcm beats every alternative (LPIPS lower, PSNR within 0.5 dB of the best) in {wins} of {rows} cases")
