"""``sedna crds generate`` and ``sedna validate``."""

from __future__ import annotations


def register(sub) -> None:
    crds = sub.add_parser("crds", help="CustomResourceDefinitions generated from sedna.api")
    crds_sub = crds.add_subparsers(dest="crds_command", metavar="ACTION", required=True)
    gen = crds_sub.add_parser("generate", help="write deploy/crds/sedna.io_<plural>.yaml")
    gen.add_argument("--output-dir", default="deploy/crds")
    gen.set_defaults(func=_generate)

    validate = sub.add_parser("validate", help="validate sedna.io objects in YAML files")
    validate.add_argument("-f", "--filename", action="extend", nargs="+", required=True, metavar="FILE",
                          help="YAML file(s) with one or more documents, or a directory of them; '-' reads "
                               "stdin; repeatable")
    validate.set_defaults(func=_validate)


def _generate(args) -> int:
    from sedna.api.crdgen import write_crds

    for path in write_crds(args.output_dir):
        print(path)
    return 0


def _validate(args) -> int:
    from sedna.api.validate import validate_files

    return validate_files(args.filename)
