from .cli import main
from .training.distributed import exit_process

exit_process(main())
