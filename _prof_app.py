import cProfile, pstats, io, runpy, time
pr = cProfile.Profile(); t = time.perf_counter(); pr.enable()
try:
    runpy.run_path("app.py")
finally:
    pr.disable()
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(70)
    open("/tmp/floor/prof.txt", "a").write(f"TOTAL {time.perf_counter()-t}\n" + s.getvalue())
