import subprocess
import sys


def test_importing_sedna_registers_builtin_algorithms():
    code = ("import sedna\n"
            "from sedna.common.class_factory import ClassFactory, ClassType\n"
            "assert {'Threshold', 'CrossEntropy', 'IBT'} <= set(ClassFactory.__registry__[ClassType.HEM])\n"
            "assert {'FedAvg', 'MistNet', 'FedAvgV2'} <= set(ClassFactory.__registry__[ClassType.FL_AGG])\n")
    subprocess.run([sys.executable, "-c", code], check=True)
