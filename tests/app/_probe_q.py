import cProfile, pstats, time, sys
from tests.app.pages import open_page
page = sys.argv[1] if len(sys.argv) > 1 else "quantize"
for i in range(3):
    t = time.perf_counter(); open_page(page); print(i, round(time.perf_counter() - t, 3))
pr = cProfile.Profile(); pr.enable(); open_page(page); pr.disable()
pstats.Stats(pr).sort_stats("cumulative").print_stats(45)
