// A test that fails on purpose: it expects a screen the app does not have, so the assertion
// reports "Element was not found on the screen" once the project's expectTimeout has passed.
import { test, expect } from "appwright";

test("shows the home screen after login", async ({ device }) => {
  await device.getByXpath('//MockButton[@id="login"]').tap();
  console.log("looking for the home screen");
  await expect(device.getByXpath('//MockView[@id="home-screen"]')).toBeVisible();
});
