from petrosa_api.app import main

# Guarded: processes started by multiprocessing (spawn, forkserver) import the main module
# as ``__mp_main__``; unguarded, each would start a second copy of the service.
if __name__ == "__main__":
    main()
