// Logs numbered progress lines, each after real work on the device (a tap and a few lookups), then
// does a last round of checks (about 80 device calls, a second or two on Appium's fake driver) before
// it passes. Used to check that logs reach watchers while the test is still running, not in one batch
// when it ends, and that a live view (the dashboard) shows them while the job is still on its slot.
import { test, expect } from "appwright";

test("logs progress while it works", async ({ device }) => {
  const signup = device.getByXpath('//MockButton[@id="signup"]');
  const welcome = device.getByXpath('//MockTextView[@id="welcome"]');
  for (let i = 1; i <= 5; i++) {
    await signup.tap();
    await expect(signup).toBeVisible();
    await expect(welcome).toBeVisible();
    console.log(`progress ${i}/5`);
  }
  for (let i = 0; i < 80; i++) await expect(welcome).toBeVisible();
  console.log("progress done");
});
