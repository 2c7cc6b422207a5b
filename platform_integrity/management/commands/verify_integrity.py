from django.core.management.base import BaseCommand, CommandError

from platform_integrity.integrity import run_all


class Command(BaseCommand):
    help = "Check every installed app's invariants; exits non-zero on any violation."

    def handle(self, **options):
        results = run_all()
        failed = 0
        for name, violations in results.items():
            if violations:
                failed += 1
                self.stdout.write(f"FAIL  {name}: {len(violations)} violation(s)")
                for line in violations[:50]:
                    self.stdout.write(f"      - {line}")
            else:
                self.stdout.write(f"ok    {name}")
        if failed:
            raise CommandError(f"{failed} of {len(results)} invariants violated")
        self.stdout.write(f"All {len(results)} invariants hold.")
