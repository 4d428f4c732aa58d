from petrosa_analytics.app import main

# Guarded: the SQLite scan's reader processes come from a forkserver, which imports the
# main module (as ``__mp_main__``); unguarded, it would start a second analytics service.
if __name__ == "__main__":
    main()
