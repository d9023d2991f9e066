from liveeval.cli import main

main()
