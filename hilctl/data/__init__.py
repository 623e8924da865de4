"""Measured pulse tables from other tools' files: ``table_import`` maps a file's columns
onto hilctl's pulse table, ``formats`` reads separators, units and conductances."""
