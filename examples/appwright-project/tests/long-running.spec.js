// A long spec: it taps through the onboarding screen again and again for about two minutes,
// logging every round. Used to show cancellation and deadlines stopping a real run.
import { test, expect } from "appwright";

test("keeps working for a long time", async ({ device }) => {
  test.setTimeout(180_000);
  const signup = device.getByXpath('//MockButton[@id="signup"]');
  const started = Date.now();
  for (let round = 1; Date.now() - started < 120_000; round++) {
    await signup.tap();
    await expect(signup).toBeVisible();
    console.log(`round ${round}`);
  }
});
