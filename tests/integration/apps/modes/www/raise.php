<?php
// An uncaught exception: PHP answers 500; the php plugin does not count an
// exception in uWSGI.
throw new Exception("the modes app raised on purpose");
